/* Error numbers for recoverable failures: functions return 0 or a negative E* value. */
#ifndef KERNEL_ERRNO_H
#define KERNEL_ERRNO_H

#define ENOENT 2     /* nothing there */
#define EIO 5        /* the hardware or hypervisor refused */
#define ENOMEM 12    /* out of memory */
#define EBUSY 16     /* in use */
#define EEXIST 17    /* already there */
#define EINVAL 22    /* invalid argument */
#define ERANGE 34    /* out of range */
#define ENOSYS 38    /* not implemented on this platform */
#define ENOTSUP 95   /* the platform lacks the feature */
#define ETIMEDOUT 110 /* nobody answered in time */

#endif

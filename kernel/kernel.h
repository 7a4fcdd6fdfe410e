/* Things kmain() sets up that the rest of the kernel reads. */
#ifndef KERNEL_KERNEL_H
#define KERNEL_KERNEL_H

#include "boot/bootinfo.h"

extern struct bootinfo bootinfo;

#endif

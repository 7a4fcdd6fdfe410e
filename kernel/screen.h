/* Screen drivers (kernel/fbcon.c, kernel/vgacon.c). They map their memory through mm/, so the
 * console does not call them: kmain() picks one and hands it to console_set_screen(). */
#ifndef KERNEL_SCREEN_H
#define KERNEL_SCREEN_H

#include "boot/bootinfo.h"
#include "kernel/console.h"

/* Each returns NULL when it cannot drive bi's display. */
const struct screen_ops *fbcon_init(const struct bootinfo *bi);
const struct screen_ops *vgacon_init(const struct bootinfo *bi);

#endif

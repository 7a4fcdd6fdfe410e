/* The console font, embedded at build time from Debian's PSF console fonts (Makefile: FONT). */
	.section .rodata
	.balign 16
	.global font_psf, font_psf_end
font_psf:
	.incbin FONT_FILE
font_psf_end:

/* Linked with one layer whole (every object of its static library) and only
 * the layers beneath it: a symbol of a higher layer is an undefined
 * reference, so an upward call fails the build (see meson.build). */
int main(void) { return 0; }

build/obj/policy/limits.o: src/policy/limits.c src/core/xalloc.h \
 src/policy/limits.h
src/core/xalloc.h:
src/policy/limits.h:

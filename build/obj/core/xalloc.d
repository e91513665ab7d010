build/obj/core/xalloc.o: src/core/xalloc.c src/core/xalloc.h
src/core/xalloc.h:

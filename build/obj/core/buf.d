build/obj/core/buf.o: src/core/buf.c src/core/buf.h src/core/str.h \
 src/core/xalloc.h
src/core/buf.h:
src/core/str.h:
src/core/xalloc.h:

build/obj/deliver/alias.o: src/deliver/alias.c src/core/buf.h \
 src/core/str.h src/core/xalloc.h src/deliver/alias.h src/core/err.h
src/core/buf.h:
src/core/str.h:
src/core/xalloc.h:
src/deliver/alias.h:
src/core/err.h:

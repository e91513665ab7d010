build/obj/conf/conf.o: src/conf/conf.c src/conf/conf.h src/core/err.h \
 src/core/str.h src/core/buf.h src/core/log.h src/core/xalloc.h
src/conf/conf.h:
src/core/err.h:
src/core/str.h:
src/core/buf.h:
src/core/log.h:
src/core/xalloc.h:

build/san/net/listen.o: src/net/listen.c src/core/xalloc.h \
 src/net/listen.h src/conf/conf.h src/core/err.h src/core/str.h
src/core/xalloc.h:
src/net/listen.h:
src/conf/conf.h:
src/core/err.h:
src/core/str.h:

build/obj/net/worker.o: src/net/worker.c src/core/log.h src/core/xalloc.h \
 src/net/worker.h src/core/idmap.h src/net/listen.h src/conf/conf.h \
 src/core/err.h src/core/str.h src/smtp/smtp_server.h
src/core/log.h:
src/core/xalloc.h:
src/net/worker.h:
src/core/idmap.h:
src/net/listen.h:
src/conf/conf.h:
src/core/err.h:
src/core/str.h:
src/smtp/smtp_server.h:

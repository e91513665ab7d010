build/obj/deliver/deliver.o: src/deliver/deliver.c src/conf/conf_live.h \
 src/conf/conf.h src/core/err.h src/core/str.h src/core/log.h \
 src/core/xalloc.h src/deliver/deliver.h src/core/id.h src/spool/spool.h \
 src/spool/spool_body.h src/core/buf.h
src/conf/conf_live.h:
src/conf/conf.h:
src/core/err.h:
src/core/str.h:
src/core/log.h:
src/core/xalloc.h:
src/deliver/deliver.h:
src/core/id.h:
src/spool/spool.h:
src/spool/spool_body.h:
src/core/buf.h:

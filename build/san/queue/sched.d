build/san/queue/sched.o: src/queue/sched.c src/core/log.h \
 src/core/xalloc.h src/deliver/deliver.h src/core/id.h src/spool/spool.h \
 src/core/err.h src/spool/spool_body.h src/core/buf.h src/core/str.h \
 src/queue/sched.h src/spool/spool_int.h src/core/idmap.h
src/core/log.h:
src/core/xalloc.h:
src/deliver/deliver.h:
src/core/id.h:
src/spool/spool.h:
src/core/err.h:
src/spool/spool_body.h:
src/core/buf.h:
src/core/str.h:
src/queue/sched.h:
src/spool/spool_int.h:
src/core/idmap.h:

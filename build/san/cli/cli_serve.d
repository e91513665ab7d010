build/san/cli/cli_serve.o: src/cli/cli_serve.c src/cli/cli.h \
 src/conf/conf_live.h src/conf/conf.h src/core/err.h src/core/str.h \
 src/core/log.h src/core/xalloc.h src/deliver/deliver.h src/core/id.h \
 src/spool/spool.h src/spool/spool_body.h src/core/buf.h src/net/listen.h \
 src/net/worker.h src/core/idmap.h src/policy/limits.h
src/cli/cli.h:
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
src/net/listen.h:
src/net/worker.h:
src/core/idmap.h:
src/policy/limits.h:

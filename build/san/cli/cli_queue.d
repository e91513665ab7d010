build/san/cli/cli_queue.o: src/cli/cli_queue.c src/cli/cli.h \
 src/conf/conf.h src/core/err.h src/core/str.h src/core/id.h \
 src/spool/spool.h src/spool/spool_body.h src/core/buf.h
src/cli/cli.h:
src/conf/conf.h:
src/core/err.h:
src/core/str.h:
src/core/id.h:
src/spool/spool.h:
src/spool/spool_body.h:
src/core/buf.h:

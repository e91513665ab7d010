build/san/deliver/deliver_maildir.o: src/deliver/deliver_maildir.c \
 src/conf/conf.h src/core/err.h src/core/str.h src/core/buf.h \
 src/core/sys.h src/deliver/deliver.h src/core/id.h src/spool/spool.h \
 src/spool/spool_body.h
src/conf/conf.h:
src/core/err.h:
src/core/str.h:
src/core/buf.h:
src/core/sys.h:
src/deliver/deliver.h:
src/core/id.h:
src/spool/spool.h:
src/spool/spool_body.h:

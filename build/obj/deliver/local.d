build/obj/deliver/local.o: src/deliver/local.c src/auth/passwd_file.h \
 src/core/err.h src/core/str.h src/core/buf.h src/core/xalloc.h \
 src/deliver/alias.h src/deliver/local.h src/conf/conf_live.h \
 src/conf/conf.h src/spool/spool.h src/core/id.h src/spool/spool_body.h
src/auth/passwd_file.h:
src/core/err.h:
src/core/str.h:
src/core/buf.h:
src/core/xalloc.h:
src/deliver/alias.h:
src/deliver/local.h:
src/conf/conf_live.h:
src/conf/conf.h:
src/spool/spool.h:
src/core/id.h:
src/spool/spool_body.h:

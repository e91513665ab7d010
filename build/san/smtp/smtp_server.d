build/san/smtp/smtp_server.o: src/smtp/smtp_server.c src/conf/conf_live.h \
 src/conf/conf.h src/core/err.h src/core/str.h src/core/buf.h \
 src/core/id.h src/core/log.h src/core/xalloc.h src/deliver/local.h \
 src/spool/spool.h src/spool/spool_body.h src/net/listen.h \
 src/net/worker.h src/core/idmap.h src/policy/limits.h \
 src/smtp/smtp_data.h src/smtp/smtp_param.h src/smtp/smtp_parse.h \
 src/smtp/smtp_path.h src/smtp/smtp_server.h
src/conf/conf_live.h:
src/conf/conf.h:
src/core/err.h:
src/core/str.h:
src/core/buf.h:
src/core/id.h:
src/core/log.h:
src/core/xalloc.h:
src/deliver/local.h:
src/spool/spool.h:
src/spool/spool_body.h:
src/net/listen.h:
src/net/worker.h:
src/core/idmap.h:
src/policy/limits.h:
src/smtp/smtp_data.h:
src/smtp/smtp_param.h:
src/smtp/smtp_parse.h:
src/smtp/smtp_path.h:
src/smtp/smtp_server.h:

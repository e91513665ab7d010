build/san/conf/conf_live.o: src/conf/conf_live.c src/auth/passwd_file.h \
 src/core/err.h src/core/str.h src/conf/conf_live.h src/conf/conf.h \
 src/core/xalloc.h src/deliver/alias.h
src/auth/passwd_file.h:
src/core/err.h:
src/core/str.h:
src/conf/conf_live.h:
src/conf/conf.h:
src/core/xalloc.h:
src/deliver/alias.h:

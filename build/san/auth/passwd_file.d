build/san/auth/passwd_file.o: src/auth/passwd_file.c \
 src/auth/passwd_file.h src/core/err.h src/core/str.h src/core/buf.h \
 src/core/xalloc.h
src/auth/passwd_file.h:
src/core/err.h:
src/core/str.h:
src/core/buf.h:
src/core/xalloc.h:

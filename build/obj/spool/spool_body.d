build/obj/spool/spool_body.o: src/spool/spool_body.c src/core/sys.h \
 src/core/xalloc.h src/spool/spool_body.h src/core/buf.h src/core/str.h \
 src/core/err.h
src/core/sys.h:
src/core/xalloc.h:
src/spool/spool_body.h:
src/core/buf.h:
src/core/str.h:
src/core/err.h:

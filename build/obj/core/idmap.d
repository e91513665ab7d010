build/obj/core/idmap.o: src/core/idmap.c src/core/idmap.h \
 src/core/xalloc.h
src/core/idmap.h:
src/core/xalloc.h:

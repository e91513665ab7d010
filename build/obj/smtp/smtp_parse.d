build/obj/smtp/smtp_parse.o: src/smtp/smtp_parse.c src/smtp/smtp_parse.h \
 src/core/str.h
src/smtp/smtp_parse.h:
src/core/str.h:

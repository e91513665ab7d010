build/san/smtp/smtp_path.o: src/smtp/smtp_path.c src/smtp/smtp_path.h \
 src/core/buf.h src/core/str.h
src/smtp/smtp_path.h:
src/core/buf.h:
src/core/str.h:

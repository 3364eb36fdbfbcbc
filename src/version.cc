// Library version symbol. The C API (include/ltcc/ltcc.h) lands with the
// collectives; until then libltcc carries the ldt transport.
extern "C" const char* ltccVersionString() { return "0.1.0"; }

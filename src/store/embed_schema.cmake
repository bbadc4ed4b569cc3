# Writes a C++ source holding the schema migrations as raw string literals.
# Usage: cmake -DOUTPUT=<file.cc> -DINPUTS=<a.sql;b.sql> -P embed_schema.cmake
# Each input is named NNN_name.sql; NNN is its schema version (1, 2, ... in
# order, no gaps: checked here so a misnamed file fails the build).
set(body "")
set(expected 1)
foreach(input IN LISTS INPUTS)
  get_filename_component(name "${input}" NAME)
  if(NOT name MATCHES "^([0-9][0-9][0-9])_[a-z0-9_]+\\.sql$")
    message(FATAL_ERROR "schema file ${name}: expected NNN_name.sql")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  if(NOT version EQUAL expected)
    message(FATAL_ERROR "schema file ${name}: expected version ${expected}")
  endif()
  math(EXPR expected "${expected} + 1")
  file(READ "${input}" sql)
  string(FIND "${sql}" ")ow_sql\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "schema file ${name} contains the raw string delimiter")
  endif()
  string(APPEND body "    {${version}, \"${name}\", R\"ow_sql(${sql})ow_sql\"},\n")
endforeach()
set(content "// Generated from schema/*.sql by src/store/embed_schema.cmake. Do not edit.
#include \"store/migrate.h\"

namespace originwatch::store_internal {

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration> kMigrations = {
${body}  };
  return kMigrations;
}

}  // namespace originwatch::store_internal
")
# Rewrite only on change so an unrelated reconfigure does not recompile.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${content}")

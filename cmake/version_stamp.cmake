# Writes version.cpp (from sweep/core/version.cpp.in) with the git commit of the source tree at
# build time, not only when CMake configures, so that a results file never names an older commit
# than the code that wrote it. "-dirty" marks uncommitted changes to tracked files. configure_file
# rewrites the file only when its text changes, so an unchanged commit recompiles nothing.
# Usage: cmake -DSOURCE_DIR=... -DIN=version.cpp.in -DOUT=version.cpp -DPROJECT_VERSION=...
#        -P version_stamp.cmake
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY "${SOURCE_DIR}"
                OUTPUT_VARIABLE EMSWEEP_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT EMSWEEP_GIT_COMMIT)
  set(EMSWEEP_GIT_COMMIT "unknown")
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no
                  WORKING_DIRECTORY "${SOURCE_DIR}" OUTPUT_VARIABLE changes ERROR_QUIET)
  if(changes)
    string(APPEND EMSWEEP_GIT_COMMIT "-dirty")
  endif()
endif()
configure_file("${IN}" "${OUT}" @ONLY)

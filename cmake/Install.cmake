# Install rules, pkg-config file and CMake package config (owned by the
# packaging work; see examples/ for the downstream check,
# tests/examples/downstream.sh).
#
#   <prefix>/lib/libltcc.so -> libltcc.so.0 -> libltcc.so.0.1.0, libltcc.a
#   <prefix>/include/ltcc/ltcc.h, ltcc.hpp
#   <prefix>/lib/pkgconfig/ltcc.pc                (relocatable: ${pcfiledir})
#   <prefix>/lib/cmake/ltcc/ltccConfig.cmake, ltccConfigVersion.cmake,
#                           ltccTargets*.cmake    (ltcc::ltcc, ltcc::ltcc_static)
#   <prefix>/bin/ltcc-perf, ltcc-info, ltcc-diag, ltcc-sim
#
# Included from the root CMakeLists.txt before the tools and benchmarks are
# defined: their install rules are deferred to the end of the root directory.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(LTCC_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/ltcc" CACHE STRING
    "Where ltccConfig.cmake is installed (relative to the prefix)")
mark_as_advanced(LTCC_INSTALL_CMAKEDIR)

install(TARGETS ltcc ltcc_static
  EXPORT ltccTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Runtime NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ltcc
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT Development
  FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")
install(EXPORT ltccTargets
  NAMESPACE ltcc::
  FILE ltccTargets.cmake
  DESTINATION ${LTCC_INSTALL_CMAKEDIR} COMPONENT Development)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ltccConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ltccConfig.cmake
  INSTALL_DESTINATION ${LTCC_INSTALL_CMAKEDIR})
# 0.x: minor versions may break the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ltccConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ltccConfig.cmake ${PROJECT_BINARY_DIR}/ltccConfigVersion.cmake
  DESTINATION ${LTCC_INSTALL_CMAKEDIR} COMPONENT Development)

# libltcc.a needs libhwloc where it was built with it (CMakeLists.txt),
set(LTCC_PC_HWLOC "")
if(HWLOC_FOUND)
  set(LTCC_PC_HWLOC " -lhwloc")
endif()
if(UCX_FOUND)  # and libucp where it was built with UCX
  string(APPEND LTCC_PC_HWLOC " -lucp -lucs")
endif()

# pkg-config: paths relative to the .pc file, so that `cmake --install
# --prefix ANYWHERE` gives a working file.
set(_ltcc_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${_ltcc_pc_dir}")
  set(LTCC_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _ltcc_pc_up "/ltcc-prefix/${_ltcc_pc_dir}" "/ltcc-prefix")
  string(REGEX REPLACE "/$" "" _ltcc_pc_up "${_ltcc_pc_up}")
  set(LTCC_PC_PREFIX "\${pcfiledir}/${_ltcc_pc_up}")
endif()
foreach(_d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_d}}")
    set(LTCC_PC_${_d} "${CMAKE_INSTALL_${_d}}")
  else()
    set(LTCC_PC_${_d} "\${prefix}/${CMAKE_INSTALL_${_d}}")
  endif()
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/ltcc.pc.in ${PROJECT_BINARY_DIR}/ltcc.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ltcc.pc DESTINATION ${_ltcc_pc_dir} COMPONENT Development)

# The tools are defined after this file is read (tools/, bench/perf/, sim/).
function(_ltcc_install_tools)
  foreach(_tool ltcc-perf ltcc-info ltcc-diag ltcc-sim)
    if(TARGET ${_tool})
      install(TARGETS ${_tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)
    endif()
  endforeach()
endfunction()
cmake_language(DEFER CALL _ltcc_install_tools)

# SPDX-License-Identifier: Apache-2.0
# Install rules: the library, the C interface's shared library (libferry-c), their headers,
# an exported CMake package (ferry::ferry, ferry::ferry_c) and pkg-config files (ferry,
# ferry-c).
include(CMakePackageConfigHelpers)

install(TARGETS ferry ferry_c EXPORT ferryTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ferry
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/ferry/version.h ${PROJECT_BINARY_DIR}/include/ferry/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ferry)
install(EXPORT ferryTargets NAMESPACE ferry::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ferry)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ferryConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ferryConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ferry)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ferryConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ferryConfig.cmake
              ${PROJECT_BINARY_DIR}/ferryConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ferry)

# Relocatable: the prefix is found from where the .pc file sits.
file(RELATIVE_PATH FERRY_PC_TO_PREFIX
  /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
# A static libferry needs lz4 and zstd on every link line; a shared one only privately.
if(BUILD_SHARED_LIBS)
  set(FERRY_PC_REQUIRES "Requires.private")
else()
  set(FERRY_PC_REQUIRES "Requires")
endif()
foreach(pc ferry ferry-c)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

# The systemd user units (packaging/systemd/*.service.in), with ExecStart under the prefix
# given at install time (cmake --install --prefix), into <prefix>/lib/systemd/user, which
# systemd searches for /usr and /usr/local (elsewhere: systemctl --user link FILE).
if(FERRY_BUILD_TOOLS)
  foreach(unit ferryd ferry-gateway ferry-bridge)
    set(in ${PROJECT_SOURCE_DIR}/packaging/systemd/${unit}.service.in)
    install(CODE "
      set(FERRY_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
      set(out \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/user/${unit}.service\")
      message(STATUS \"Installing: \${out}\")
      configure_file(\"${in}\" \"\${out}\" @ONLY)
      list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${out}\")")
  endforeach()
endif()

# `cmake --install build --prefix P` lays out what an out-of-tree handler needs:
#   P/include/statechannel/{handler.h,patch.h}   the plugin contract and the patch library API
#   P/<libdir>/libscpatch.{a,so*}                the patch library
#   P/<libdir>/pkgconfig/statechannel.pc         cc $(pkg-config --cflags --libs statechannel)
#   P/<libdir>/cmake/statechannel/               find_package(statechannel): statechannel::handler
#                                                (include dir + cJSON) and statechannel::scpatch
# plus, when they are built, the server (P/bin/statechannel) and the example handlers
# (P/<libdir>/statechannel/handlers/*.so). Included once from the top-level CMakeLists.txt,
# after every subdirectory, so that it can install their targets.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The plugin API as a target: headers only, plus cJSON (handlers use it; the server resolves
# the sc_* functions at dlopen, so nothing else is linked).
add_library(sc_handler_api INTERFACE)
target_include_directories(sc_handler_api INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/server/include>
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/patch/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(sc_handler_api INTERFACE PkgConfig::CJSON)
set_target_properties(sc_handler_api PROPERTIES EXPORT_NAME handler)

install(FILES ${PROJECT_SOURCE_DIR}/server/include/statechannel/handler.h
              ${PROJECT_SOURCE_DIR}/patch/include/statechannel/patch.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/statechannel)
install(TARGETS scpatch scpatch_static sc_handler_api EXPORT statechannelTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
if(TARGET statechannel)
  install(TARGETS statechannel RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
if(TARGET statechannel_tls)
  install(TARGETS statechannel_tls LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/statechannel)
endif()
if(EXISTS ${PROJECT_SOURCE_DIR}/handlers/CMakeLists.txt)
  get_property(sc_handler_targets DIRECTORY ${PROJECT_SOURCE_DIR}/handlers
               PROPERTY BUILDSYSTEM_TARGETS)
  install(TARGETS ${sc_handler_targets}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/statechannel/handlers)
endif()

# The .pc file finds its prefix from its own location (${pcfiledir}), so the same file works
# for whatever --prefix `cmake --install` is given.
set(SC_PKGCONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH SC_PC_PREFIX_REL /root/${SC_PKGCONFIG_DIR} /root)
string(REGEX REPLACE "/$" "" SC_PC_PREFIX_REL "${SC_PC_PREFIX_REL}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/statechannel.pc.in
               ${PROJECT_BINARY_DIR}/statechannel.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/statechannel.pc DESTINATION ${SC_PKGCONFIG_DIR})

set(SC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/statechannel)
install(EXPORT statechannelTargets NAMESPACE statechannel:: DESTINATION ${SC_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/statechannelConfig.cmake.in
  ${PROJECT_BINARY_DIR}/statechannelConfig.cmake INSTALL_DESTINATION ${SC_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/statechannelConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/statechannelConfig.cmake
              ${PROJECT_BINARY_DIR}/statechannelConfigVersion.cmake
        DESTINATION ${SC_CMAKE_DIR})

# SPDX-License-Identifier: Apache-2.0
# `make install` / `cmake --install <build> [--prefix P]`, DESTDIR honoured (issue 12):
#   <prefix>/bin/{supernode,dfget,dfdaemon}
#   <prefix>/share/man/man1/dfget.1, man8/{supernode,dfdaemon}.8
#   <prefix>/lib/systemd/system/damselfly-{supernode,dfdaemon}.service (ExecStart = the
#     installed binaries, resolved at install time so that --prefix is honoured)
#   <prefix>/lib/sysusers.d/damselfly.conf (the system user `damselfly`)
#   <prefix>/share/doc/damselfly/ (README, docs, LICENSE)
#   /etc/dragonfly/{supernode.yml,dfdaemon.yml}, /etc/dragonfly.conf, /etc/default/damselfly-*:
#     the paths the binaries read, whatever the prefix; an existing file is never replaced.
include(GNUInstallDirs)
set(DF_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "systemd unit directory (relative: under the install prefix)")
set(DF_SYSUSERSDIR "lib/sysusers.d" CACHE STRING "sysusers.d directory (relative: under the prefix)")
set(DF_CONF_ROOT "/etc" CACHE PATH "where the configuration files go (the binaries read /etc)")

install(TARGETS supernode dfget dfdaemon RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES man/dfget.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES man/supernode.8 man/dfdaemon.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)

# Units: @DF_BINDIR@ = <install prefix>/<bindir>, the prefix being the one of this install run.
set(_df_unit_out ${CMAKE_BINARY_DIR}/deploy/systemd)
install(CODE "
  if(IS_ABSOLUTE \"${CMAKE_INSTALL_BINDIR}\")
    set(DF_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  else()
    set(DF_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  endif()
  foreach(_u damselfly-supernode damselfly-dfdaemon)
    configure_file(\"${CMAKE_SOURCE_DIR}/deploy/systemd/\${_u}.service.in\"
                   \"${_df_unit_out}/\${_u}.service\" @ONLY)
  endforeach()")
install(FILES ${_df_unit_out}/damselfly-supernode.service ${_df_unit_out}/damselfly-dfdaemon.service
        DESTINATION ${DF_SYSTEMD_UNITDIR})
install(FILES deploy/systemd/damselfly.sysusers DESTINATION ${DF_SYSUSERSDIR}
        RENAME damselfly.conf)
install(FILES README.md LICENSE docs/dfdaemon.md docs/security.md docs/limits.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Configuration: never overwrite what an administrator has.
install(CODE "
  foreach(_pair \"dragonfly/supernode.yml=config/supernode.yml\"
                \"dragonfly/dfdaemon.yml=config/dfdaemon.yml\"
                \"dragonfly.conf=config/dragonfly.conf\"
                \"default/damselfly-supernode=default/damselfly-supernode\"
                \"default/damselfly-dfdaemon=default/damselfly-dfdaemon\")
    string(REPLACE \"=\" \";\" _p \"\${_pair}\")
    list(GET _p 0 _dst)
    list(GET _p 1 _src)
    set(_to \"${DF_CONF_ROOT}/\${_dst}\")
    if(EXISTS \"\$ENV{DESTDIR}\${_to}\")
      message(STATUS \"Keeping: \$ENV{DESTDIR}\${_to}\")
    else()
      # file(INSTALL) prepends DESTDIR itself
      get_filename_component(_dir \"\${_to}\" DIRECTORY)
      file(INSTALL \"${CMAKE_SOURCE_DIR}/deploy/\${_src}\" DESTINATION \"\${_dir}\"
           FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    endif()
  endforeach()")

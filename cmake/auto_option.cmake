# bufferpool_auto_option(NAME DOC FOUND): an ON/OFF switch whose default,
# AUTO, follows what this configure found (FOUND). AUTO is decided again at
# every configure, so installing a dependency after a first configure turns
# its part on, where a plain option() would keep the OFF it cached then. ON
# or OFF given with -D stays as given. Sets NAME to ON or OFF in the
# caller's scope (a normal variable over the cache entry), so that
# `if(NAME)` and @NAME@ read the decided value everywhere below.
function(bufferpool_auto_option name doc found)
  set(${name} AUTO CACHE STRING "${doc}: ON, OFF or AUTO (ON where what it needs is found)")
  set_property(CACHE ${name} PROPERTY STRINGS AUTO ON OFF)
  if("${${name}}" STREQUAL "AUTO")
    set(decided ${found})
    if(NOT decided)
      message(STATUS "bufferpool: ${name} is AUTO and what it needs was not found, so it is "
                     "OFF this time; -D${name}=ON names what is missing")
    endif()
  elseif(${${name}})
    set(decided ON)
  else()
    set(decided OFF)
  endif()
  if(decided)
    set(${name} ON PARENT_SCOPE)
  else()
    set(${name} OFF PARENT_SCOPE)
  endif()
endfunction()

# Builds one target of this build tree and checks the outcome:
#   cmake -DBUILD_DIR=... -DTARGET=... -DEXPECT=fail|pass [-DERROR_REGEX=...] -P expect_build.cmake
# EXPECT=fail: the build must fail AND its output must match ERROR_REGEX, so a
# compile-failure test cannot pass because of some unrelated error.
foreach(v BUILD_DIR TARGET EXPECT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "expect_build.cmake: ${v} not set")
  endif()
endforeach()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE out)
if(EXPECT STREQUAL "pass")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "target ${TARGET} must build but failed:\n${out}")
  endif()
  message(STATUS "target ${TARGET} built, as it must")
elseif(EXPECT STREQUAL "fail")
  if(rc EQUAL 0)
    message(FATAL_ERROR "target ${TARGET} built but must fail to compile:\n${out}")
  endif()
  if(NOT out MATCHES "${ERROR_REGEX}")
    message(FATAL_ERROR "target ${TARGET} failed, but not with an error matching '${ERROR_REGEX}':\n${out}")
  endif()
  message(STATUS "target ${TARGET} failed to compile, as it must, with the expected error")
else()
  message(FATAL_ERROR "EXPECT must be fail or pass")
endif()

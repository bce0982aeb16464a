# arm-none-eabi.cmake - cross-compile runtime_c (and a converted model) for Cortex-M
# with Debian's gcc-arm-none-eabi + newlib:
#
#   cmake -S . -B build-m4 -DCMAKE_TOOLCHAIN_FILE=runtime_c/cmake/arm-none-eabi.cmake \
#         -DMT_CPU=cortex-m4 -DMT_MODEL_DIR=out/lenet5
#   cmake --build build-m4          # -> libmt.a (+ libmt_model.a)
#
# MT_CPU: cortex-m0 | cortex-m3 | cortex-m4 (default, hard float) | cortex-m7 | cortex-m33.
# Float contraction is pinned off, as on the host, so results match it bit for bit
# (docs/design.md §4). Linking a firmware image is the job of the user's project or
# of `pyconvert firmware`, which also brings startup code and linker scripts.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar)
set(CMAKE_RANLIB arm-none-eabi-ranlib)
# Test compiles build a static library: no startup code or linker script needed.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(MT_CPU "cortex-m4" CACHE STRING "Cortex-M core: cortex-m0, cortex-m3, cortex-m4, cortex-m7, cortex-m33")
if(MT_CPU STREQUAL "cortex-m4")
  set(MT_CPU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16")
elseif(MT_CPU STREQUAL "cortex-m7")
  set(MT_CPU_FLAGS "-mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16")
elseif(MT_CPU STREQUAL "cortex-m33")
  set(MT_CPU_FLAGS "-mcpu=cortex-m33 -mthumb -mfloat-abi=hard -mfpu=fpv5-sp-d16")
elseif(MT_CPU STREQUAL "cortex-m3" OR MT_CPU STREQUAL "cortex-m0")
  set(MT_CPU_FLAGS "-mcpu=${MT_CPU} -mthumb -mfloat-abi=soft")
else()
  message(FATAL_ERROR "MT_CPU=${MT_CPU}: use cortex-m0, cortex-m3, cortex-m4, cortex-m7 or cortex-m33")
endif()
set(CMAKE_C_FLAGS_INIT "${MT_CPU_FLAGS} -ffunction-sections -fdata-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

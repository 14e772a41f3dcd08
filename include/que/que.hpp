// que/que.hpp — everything: both channel kinds and every backing (heap,
// hugepages, shm and the sealed memfd).
#pragma once

#include "backing/memfd.hpp"
#include "errc.hpp"
#include "spmc.hpp"
#include "spsc.hpp"

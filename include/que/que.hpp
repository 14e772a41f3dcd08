// que/que.hpp — everything: both channel kinds and every backing.
#pragma once

#include "errc.hpp"
#include "spmc.hpp"
#include "spsc.hpp"

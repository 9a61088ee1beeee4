// SPDX-License-Identifier: GPL-2.0
// PLACEHOLDER until the irq-bypass work lands: never posts.
#include "irq/irq_posting.h"

namespace mk::irq {

void posting_update(Vm &, u32, PostingState &) {}
void posting_detach(Vm &, PostingState &st) { st.posted = false; }

}  // namespace mk::irq

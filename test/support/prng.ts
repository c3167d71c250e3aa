/** mulberry32: a small seeded PRNG returning floats in [0, 1). Shared by the tests and the bench (one copy, with the in-memory network's). */
export { mulberry32 } from '../../ts/transport/memory.js';

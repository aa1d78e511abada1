/**
 * The clock port.
 *
 * @module
 */

/** The current time. */
export interface Clock {
  now(): number;
}

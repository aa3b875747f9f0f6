/** Tandem's distributed runtime: registry, event plane and request plane. */
package dev.tandem.runtime;

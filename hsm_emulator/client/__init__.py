"""Client-side helpers for the emulator (an Azure SDK credential, a process launcher, SDK test
helpers). The only part of hsm_emulator that may import the Azure SDK; the server never
imports this package."""

// The engine's seeded generator lives in TailorRandom (so that evaluation can draw from it
// without the engine); the engine's users see it as part of the engine's API.
@_exported import TailorRandom

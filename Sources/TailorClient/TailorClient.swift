import TailorWire

import Foundation

/// Whether the machine runs on mains power: the autopilot trains only then, so that a laptop's
/// battery is not spent on a background job.
protocol PowerSource: Sendable {
    /// true on mains, false on battery, nil when the machine does not say (a desktop or a VM
    /// without power-supply drivers, which the autopilot takes as mains).
    func onMains() -> Bool?
}

/// The kernel's report under /sys/class/power_supply: one directory per supply with `type`
/// (Mains, USB, Battery, …), `online` for chargers and `status` and `scope` for batteries.
struct SysfsPowerSource: PowerSource {
    let directory: String

    func onMains() -> Bool? {
        func read(_ supply: String, _ file: String) -> String? {
            (try? String(contentsOfFile: directory + "/" + supply + "/" + file, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let supplies = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var chargers = 0, batteries = 0, discharging = false
        for s in supplies.sorted() {
            switch read(s, "type") {
            case "Mains"?, "USB"?, "USB_C"?, "USB_PD"?, "USB_PD_DRP"?:
                if read(s, "online") == "1" { return true }
                chargers += 1
            case "Battery"?:
                // A mouse's or headset's battery says scope=Device; it does not power us.
                guard read(s, "scope") != "Device" else { continue }
                batteries += 1
                if read(s, "status") == "Discharging" { discharging = true }
            default: continue
            }
        }
        if batteries == 0 && chargers == 0 { return nil }
        return !(discharging || chargers > 0)
    }
}

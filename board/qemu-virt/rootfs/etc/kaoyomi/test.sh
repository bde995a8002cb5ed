#!/bin/sh
# The QEMU image's in-guest checks, run by kaoyomi-test.service once systemd (PID 1) has brought
# the reader's own unit up: first the device's start-up (the unit active, as its own user, on the
# read-only root with the state disk, serving the terminal over USB, still up after 30 s with no
# restart), then the device self-tests, then the test rig's scripted sessions (a simulator build of
# the reader, `kaoyomi-reader-sim`, once the device's reader is stopped). Each check is reported on
# the console for the host.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

check() {
    if [ "$2" = 0 ]; then echo "KAOYOMI-CHECK pass $1"; else echo "KAOYOMI-CHECK fail $1"; fi
}
uptime_cs() { cut -d' ' -f1 /proc/uptime | sed 's/\.//'; }
wait_for() {
    i=0
    while [ ! -e "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e "$1" ]
}
unit() { systemctl show -p "$1" --value kaoyomi-reader.service; }
# The reader's journal since the last `mark_log`, and a wait for its Nth line matching a pattern
# there (up to 60 s).
mark_log() { mark=$(journalctl -u kaoyomi-reader -n 1 --show-cursor -o cat | sed -n 's/^-- cursor: //p'); }
reader_log() { journalctl -u kaoyomi-reader -o cat --no-pager ${mark:+--after-cursor "$mark"}; }
await_log() {
    i=0
    while [ "$(reader_log | grep -cE "$1")" -lt "${2:-1}" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    [ "$(reader_log | grep -cE "$1")" -ge "${2:-1}" ]
}
await_screen() { await_log "screen $1( |\$)" "$2"; }
# The host's part, asked for on the console and answered there once done: the heads' pictures
# compared (KAOYOMI-SHOT), a tap on a button (KAOYOMI-TAP), a PIN on the shuffled pad (KAOYOMI-PIN).
ask_host() {
    echo "$*"
    read -t 120 answer < /dev/ttyAMA0
    [ "$answer" = done ]
}

# The terminal's program, keeping its key and paired readers in one place (the root is read-only).
kterm() { kaoyomi-term --store /tmp/terminal "$@"; }

# The reader's unit is up, and kaoyomi-usb-bind.service bound its USB gadget once it was serving.
[ "$(unit ActiveState)" = active ]
ok=$?
check reader-unit-active $ok
[ $ok = 0 ] && echo "KAOYOMI-READY at $(cut -d' ' -f1 /proc/uptime) s"
if [ $ok != 0 ]; then
    # Why, at once on the console.
    systemctl status --no-pager kaoyomi-reader.service
    journalctl -b --no-pager -u kaoyomi-reader.service | tail -n 40
fi
echo "KAOYOMI-MEASURE kernel $(uname -r); systemd $(systemctl --version | head -n 1)"
# Where boot time goes (the guest's monotonic clock; systemd-analyze cannot tell while this unit
# is still part of the boot): systemd started, the reader's unit started, the reader up.
ms() { echo $(( ${1:-0} / 1000 )); }
echo "KAOYOMI-MEASURE boot: systemd at $(ms "$(systemctl show -P UserspaceTimestampMonotonic)") ms, reader unit started at $(ms "$(systemctl show -P ExecMainStartTimestampMonotonic kaoyomi-reader.service)") ms, active at $(ms "$(systemctl show -P ActiveEnterTimestampMonotonic kaoyomi-reader.service)") ms"
# The boot after the first one's power cut checks what the first left on the state disk.
if grep -qw "kaoyomi.after=power-cut" /proc/cmdline; then
    . /etc/kaoyomi/test-after-power-cut.sh
    echo "KAOYOMI-DONE"
    exit 0
fi
ready=$(uptime_cs)
reader=$(unit MainPID)
grep -q "^Uid:[[:space:]]*900[[:space:]]" /proc/$reader/status
check reader-runs-as-its-own-user $?
tr '\0' ' ' < /proc/$reader/cmdline | grep -q "^/usr/bin/kaoyomi-reader run --board /etc/kaoyomi/board.toml --state /var/lib/kaoyomi --window $"
check reader-runs-the-units-command-line $?
# The simulator's typed input runs on a thread named "stdin"; the device's reader has none.
[ -d /proc/$reader/task ] && ! grep -qx stdin /proc/$reader/task/*/comm
check reader-has-no-typed-input $?
grep -q "^Max core file size *0 *0 " /proc/$reader/limits
check reader-core-dumps-off $?
# Both displays are drawn by the reader's one process: the host takes each head's picture
# (QEMU's screendump) and compares it with what the software renderer draws on the host for the
# idle screen in Japanese, then answers on the console.
journalctl -u kaoyomi-reader -o cat | grep -q "display: the patient panel on Virtual-1 at 1920x1080"
check reader-lights-the-patient-panel $?
journalctl -u kaoyomi-reader -o cat | grep -q "display: the staff display on Virtual-2 at 1920x1080"
check reader-lights-the-staff-display $?
ask_host KAOYOMI-SHOT place-card ja
check host-took-the-screens $?
[ "$(cat /proc/sys/kernel/core_pattern)" = "|/bin/false" ]
check kernel-core-pattern-off $?
[ "$(wc -l < /proc/swaps)" = 1 ]
check no-swap $?
grep -q " / squashfs ro" /proc/mounts
check root-mounted-read-only $?
touch /etc/kaoyomi/probe 2> /dev/null
[ $? != 0 ]
check root-refuses-writes $?
grep -q "^/dev/vdb /var/lib/kaoyomi ext4 rw," /proc/mounts
check state-partition-is-the-ext4-disk $?
[ "$(stat -c %a:%u /var/lib/kaoyomi)" = 700:900 ]
check state-directory-private-to-the-reader $?
[ -s /var/lib/kaoyomi/device-key.ed25519 ]
check device-key-on-the-state-partition $?
[ -z "$(systemctl --failed --no-legend --plain)" ]
check no-failed-units $?
systemctl --failed --no-legend --plain | sed 's/^/KAOYOMI-MEASURE failed unit /'

# The device's reader (no simulator) needs a board file and refuses one naming simulated devices.
kaoyomi-reader run > /tmp/no-board.log 2>&1
[ $? != 0 ] && grep -q -- "--board" /tmp/no-board.log
check device-reader-needs-a-board-file $?
kaoyomi-reader run --board /etc/kaoyomi/rig-socket.toml --state /tmp/refused > /tmp/rig-board.log 2>&1
[ $? != 0 ] && grep -q "without the simulator" /tmp/rig-board.log
check device-reader-refuses-simulated-devices $?
kaoyomi-reader sim personas > /tmp/sim-command.log 2>&1
[ $? != 0 ] && grep -q "unrecognized subcommand" /tmp/sim-command.log
check device-reader-has-no-sim-commands $?

# The terminal finds the device's reader on USB (the gadget on dummy_hcd, seen by the guest's own
# host side) and reads its identity; a second terminal program is turned away meanwhile; the
# cable pulled and plugged back is seen by the terminal, which finds the same reader again.
i=0
while ! kterm readers 2>/dev/null | grep -q "^KY-" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kterm readers 2>/dev/null | grep -q "^KY-"
check usb-reader-enumerated $?
kterm readers 2>/dev/null | sed 's/^/KAOYOMI-MEASURE usb reader /'
# Not paired yet: the terminal refuses to run a session with it.
kterm --usb --connect-timeout 20 session > /dev/null 2> /tmp/term-unpaired.log
[ $? != 0 ] && grep -q "not paired" /tmp/term-unpaired.log
check terminal-refuses-an-unpaired-reader $?
# Pairing as at an installation: the reader shows the code of the connection (on the staff
# display, and in its runtime directory for the maintenance console, read here), the terminal's
# operator types it.
kterm --usb --connect-timeout 20 pair --code-from /run/kaoyomi-reader/pairing-code > /tmp/term-pair.log 2>&1
check terminal-paired-with-the-code-the-reader-shows $?
i=0
while [ -e /run/kaoyomi-reader/pairing-code ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ ! -e /run/kaoyomi-reader/pairing-code ]
check pairing-code-gone-once-paired $?
kterm --usb --connect-timeout 20 info > /tmp/term-info.log 2>&1
check device-reader-answers-over-usb $?
grep -q "qemu-virt" /tmp/term-info.log
check device-reader-names-its-board $?
kaoyomi-cardsim export-ca --out /tmp/ca.der > /dev/null 2>&1
check export-test-ca $?
# A patient's session on the device's reader, entered by taps on the touch panel (QEMU's tablet
# on the patient's head, driven by the host at the places where the host's rendering of the same
# screen has the buttons; the PIN's keys found on the shuffled pad in the guest's picture) and
# completed over USB: the terminal gets the signed result.
mark_log
kterm --usb --connect-timeout 20 session --trust-anchor /tmp/ca.der --json > /tmp/result-touch.json 2> /tmp/term-touch.log &
term=$!
await_log SessionArmed
kaoyomi-cardsim --state /run/kaoyomi-rig insert normal > /dev/null
await_screen choose-method
check device-reader-reads-the-card-through-pcscd $?
kterm --usb --connect-timeout 1 info > /dev/null 2> /tmp/term-second.log
[ $? != 0 ] && grep -q "in use by another terminal program" /tmp/term-second.log
check second-terminal-refused-over-usb $?
ask_host KAOYOMI-TAP choose-method-pin-only ja PIN "(4 digits)" && await_screen pin-entry
check tap-on-pin-opens-the-pad $?
# The test persona "normal"'s PIN.
ask_host KAOYOMI-PIN pin-entry ja 4721 && await_screen verifying-pin && await_screen consent
check pin-tapped-is-verified-by-the-card $?
ask_host KAOYOMI-TAP consent-medical ja Yes, I agree && await_screen consent 2 &&
    ask_host KAOYOMI-TAP consent-checkup ja Yes, I agree && await_screen consent 3 &&
    ask_host KAOYOMI-TAP consent-limit ja No && await_screen finished
check consents-answered-by-taps $?
wait $term
check touch-session-completed-over-usb $?
grep -q '"method": "Pin"' /tmp/result-touch.json && grep -q '"outcome": "Verified"' /tmp/result-touch.json
check touch-session-verified-by-pin $?
grep -q '"card_signature": "valid"' /tmp/result-touch.json && grep -q '"trusted"' /tmp/result-touch.json
check touch-session-card-signature-valid $?
consents=$(tr -d ' \n' < /tmp/result-touch.json)
ok=0
for answer in '"agreed":true,"topic":"medical"' '"agreed":true,"topic":"checkup"' '"agreed":false,"topic":"limit"'; do
    case "$consents" in *"$answer"*) ;; *) ok=1 ;; esac
done
check touch-session-consents-as-tapped $ok
kaoyomi-cardsim --state /run/kaoyomi-rig remove > /dev/null
await_screen place-card
check device-reader-back-to-idle-after-the-card-is-taken $?

# The cable pulled mid-session: the terminal sees it, the reader ends the session; plugged back,
# the terminal finds the same reader.
mark_log
# Started as itself, not through the kterm function, so that $! is the program and the kill below
# stops it (a function would run in a subshell, and the program would outlive the kill and arm a
# session again on the next reader it finds).
kaoyomi-term --store /tmp/terminal --usb --reconnect --connect-timeout 60 session --trust-anchor /tmp/ca.der --json > /tmp/result-device.json 2> /tmp/term-device.log &
term=$!
if ! await_log SessionArmed; then
    # Why, at once on the console.
    sed 's/^/KAOYOMI-MEASURE terminal: /' /tmp/term-device.log
    reader_log | tail -n 20 | sed 's/^/KAOYOMI-MEASURE reader: /'
fi
kaoyomi-cardsim --state /run/kaoyomi-rig insert normal > /dev/null
await_screen choose-method
udc_files() { ls /sys/kernel/config/usb_gadget/*/UDC 2>/dev/null; }
for u in $(udc_files); do echo "" > "$u"; done
i=0
while ! grep -q "went down" /tmp/term-device.log && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "went down" /tmp/term-device.log
check terminal-sees-the-cable-pulled $?
await_log TerminalLost
check reader-ends-the-session-on-unplug $?
kaoyomi-cardsim --state /run/kaoyomi-rig remove > /dev/null
for u in $(udc_files); do echo "dummy_udc.0" > "$u"; done
i=0
while ! grep -q "is back" /tmp/term-device.log && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "is back" /tmp/term-device.log
check terminal-found-the-same-reader-again $?
kill $term 2> /dev/null
wait $term 2> /dev/null

# Device self-tests (their drivers loaded now, after the ready mark, so they do not count in
# boot-to-ready).
status=0
for m in gpio-sim uinput evdev vivid snd-aloop; do modprobe "$m" || { echo "cannot load $m"; status=1; }; done
check kernel-modules-loaded $status
ls /sys/class/udc | grep -q dummy_udc
check usb-device-controller-dummy-udc $?
# LEDs: four simulated GPIO lines (gpio-sim); the self-test drives a pattern through the GPIO
# character device (gpiocdev, embedded-hal OutputPin) and the simulator's own attributes read it back.
# Touch: a uinput touchscreen taps, the evdev path reads the tap back.
kaoyomi-reader selftest touch > /tmp/touch.log 2>&1
grep -q "touch: tap at 960,540" /tmp/touch.log
check touch-tap-through-uinput-and-evdev $?

sim=/sys/kernel/config/gpio-sim/kaoyomi
mkdir -p $sim/bank0 && echo 4 > $sim/bank0/num_lines && echo 1 > $sim/live
chip=$(cat $sim/bank0/chip_name 2>/dev/null)
simdev=$(cat $sim/dev_name 2>/dev/null)
echo "KAOYOMI-MEASURE gpio-sim chip ${chip:-none} device ${simdev:-none}"
kaoyomi-reader selftest leds --chip /dev/$chip --pattern 1010 --hold-ms 4000 > /tmp/leds.log 2>&1 &
leds=$!
i=0
while ! grep -q "LED line 3" /tmp/leds.log && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
seen=""
for n in 0 1 2 3; do seen="$seen$(cat /sys/devices/platform/$simdev/$chip/sim_gpio$n/value 2>/dev/null)"; done
[ "$seen" = 1010 ]
check leds-pattern-read-back-from-gpio-sim $?
wait $leds
check leds-selftest-completed $?
seen=""
for n in 0 1 2 3; do seen="$seen$(cat /sys/devices/platform/$simdev/$chip/sim_gpio$n/value 2>/dev/null)"; done
[ "$seen" = 0000 ]
check leds-off-after-selftest $?
# Camera: vivid's capture device streams through V4L2 (mmap), then vivid's HDMI output is looped
# into it and a picture of our own must come back. Speaker: the chime played on snd-aloop's
# playback side must be heard on its capture side.
cap=""; out=""
for v in /sys/class/video4linux/video*; do
    case "$(cat $v/name 2>/dev/null)" in
        *vid-cap*) cap=/dev/$(basename $v) ;;
        *vid-out*) out=/dev/$(basename $v) ;;
    esac
done
echo "KAOYOMI-MEASURE vivid capture ${cap:-none} output ${out:-none}"
kaoyomi-reader selftest camera --device "$cap" --frames 30 > /tmp/camera.log 2>&1
check camera-streams-through-v4l2 $?
grep "frames in" /tmp/camera.log | sed 's/^/KAOYOMI-MEASURE /'
# v4l2-ctl (the test rig, not the product) plays our picture into vivid's HDMI output.
kaoyomi-reader selftest test-picture --out /tmp/picture.grey
v4l2-ctl -d "$out" --set-fmt-video-out=pixelformat=GREY,width=1280,height=720 --stream-out-mmap --stream-from=/tmp/picture.grey --stream-loop --stream-count=3000 > /tmp/camera-out.log 2>&1 &
player=$!
# The player prints a mark per frame it queues: the camera is checked once it plays (under TCG on
# a busy host it can take seconds to start), and once more if its first 120 frames missed it.
i=0
while [ ! -s /tmp/camera-out.log ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kaoyomi-reader selftest camera --device "$cap" --looped --frames 120 > /tmp/camera-loop.log 2>&1 ||
    kaoyomi-reader selftest camera --device "$cap" --looped --frames 120 >> /tmp/camera-loop.log 2>&1
check camera-shows-our-own-picture $?
kill $player 2> /dev/null
kaoyomi-reader selftest speaker --device hw:Loopback,0,0 --loopback hw:Loopback,1,0 > /tmp/speaker.log 2>&1
check speaker-chime-heard-through-snd-aloop $?

# The reader's unit stayed up all this time (at least 30 s since it was ready): no restart loop.
now=$(uptime_cs)
[ $((now - ready)) -lt 3000 ] && sleep $(( (3000 - (now - ready)) / 100 + 1 ))
[ "$(unit ActiveState)" = active ] && [ "$(unit NRestarts)" = 0 ] && [ "$(unit MainPID)" = "$reader" ]
check reader-unit-stays-up-30-s-without-restarting $?
echo "KAOYOMI-MEASURE reader unit up $(( ($(uptime_cs) - ready) / 100 )) s, restarts $(unit NRestarts)"
# Killed, the reader is started again by systemd, its gadget set up anew and bound again: the
# terminal finds it.
systemctl kill -s KILL kaoyomi-reader.service
i=0
while [ "$(unit NRestarts)" != 1 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
i=0
while ! kterm readers 2>/dev/null | grep -q "^KY-" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(unit NRestarts)" = 1 ] && [ "$(unit ActiveState)" = active ] && kterm readers 2>/dev/null | grep -q "^KY-"
check killed-reader-restarts-and-serves-usb-again $?

# The staff's USB keyboard and mouse on the maintenance pages (QEMU's virtio keyboard and mouse,
# bound to the staff display, driven by the host): the mouse opens the login, the keyboard types
# the Device ID and the engineer's initial password (as on the device's sheet) and the forced
# change to a new password with an @ (a key that types [ on a US keyboard: right only when the
# reader translates for the JIS keyboard it is set for); the mouse then opens the settings, sets
# the keyboard layout to US and saves. The power cut after these checks and the boot after it
# (test-after-power-cut.sh) check that the password, the setting and their logs stayed.
sheet=$(kaoyomi-reader initial-passwords --state /var/lib/kaoyomi)
serial=$(echo "$sheet" | sed -n 's/^Device ID //p')
initial=$(echo "$sheet" | sed -n 's/^engineer *//p')
[ -n "$serial" ] && [ -n "$initial" ]
check device-sheet-gives-the-initial-password $?
mark_log
journalctl -u kaoyomi-reader -o cat | grep -E "staff (keyboard|mouse):" | sed 's/^/KAOYOMI-MEASURE /'
[ "$(journalctl -u kaoyomi-reader -o cat | grep -cE "staff (keyboard|mouse):")" -ge 2 ]
check reader-finds-the-staff-keyboard-and-mouse $?
ask_host KAOYOMI-CLICK place-card Maintenance && await_log "maintenance page Login"
check mouse-opens-the-maintenance-login $?
# The field is focused once the page is drawn (software rendering under TCG).
sleep 1
ask_host KAOYOMI-TYPE "$serial" "<tab>" "$initial" "<enter>" && await_log "maintenance page ChangePassword" &&
    await_screen maintenance
ok=$?
check keyboard-logs-in-with-the-initial-password $ok
# Why, at once on the console (the desk's answers are catalogue keys, never what was typed).
[ $ok != 0 ] && reader_log | tail -n 20 | sed 's/^/KAOYOMI-MEASURE reader: /'
ask_host KAOYOMI-TYPE "$initial" "<tab>" "Kaoyomi-Test@2026" "<tab>" "Kaoyomi-Test@2026" "<enter>" &&
    await_log "maintenance: password-changed"
check keyboard-changes-the-initial-password $?
ask_host KAOYOMI-CLICK maintenance-device Settings && await_log "maintenance page Settings" &&
    ask_host KAOYOMI-CLICK maintenance-settings US && ask_host KAOYOMI-CLICK maintenance-settings Save &&
    await_log "maintenance: settings-saved"
check mouse-sets-the-keyboard-layout $?
# The self-tests, run by the reader's own threads: the card reader through pcscd (vpcd, with or
# without a card on it), the touch panel (QEMU's tablet), the database on the state disk; no
# cameras on this board; the USB link up (the guest's host side has the reader configured) with
# no terminal talking on it between kterm's commands.
ask_host KAOYOMI-CLICK maintenance-settings Self-tests && await_log "maintenance page SelfTest" &&
    ask_host KAOYOMI-CLICK maintenance-self-test Run the self-tests && await_log "self-test: done"
check mouse-runs-the-self-tests $?
reader_log | grep "self-test " | sed 's/^/KAOYOMI-MEASURE reader: /'
reader_log | grep -qE "self-test card-reader: passed selftest.note.card-[a-z-]+ Virtual PCD 00 00" &&
    reader_log | grep -q "self-test touch: passed" && reader_log | grep -q "self-test storage: passed" &&
    reader_log | grep -q "self-test face-camera: not-fitted" &&
    reader_log | grep -q "self-test terminal: passed selftest.note.terminal-idle 1 paired"
check self-tests-find-the-card-reader-touch-panel-and-database $?
kterm --usb --connect-timeout 20 session > /dev/null 2> /tmp/term-maintenance.log
[ $? != 0 ] && grep -qi "maintenance" /tmp/term-maintenance.log
check no-session-during-maintenance $?
journalctl -u kaoyomi-reader -o cat --no-pager > /tmp/reader-device.log
# Stopping the gadget's unit stops the reader (it requires the gadget) and the bind step, removes
# the gadget and unmounts its FunctionFS, so the test rig's readers below can have the USB port.
systemctl stop kaoyomi-usb-gadget.service
[ "$(unit ActiveState)" = inactive ] && [ "$(systemctl is-active kaoyomi-usb-bind.service)" = inactive ] && [ -z "$(ls /sys/kernel/config/usb_gadget 2>/dev/null)" ] && ! grep -q " /run/kaoyomi-usb " /proc/mounts
check reader-units-stop-and-remove-the-gadget $?

# The test rig's scripted sessions: a simulator build of the reader (`kaoyomi-reader-sim`) on the
# rig's boards, the card placed through kaoyomi-cardsim's control socket by the script.
rig=/run/kaoyomi-rig
mkdir -p $rig/socket $rig/usb
chown 900:900 $rig/socket $rig/usb
chmod 700 $rig/socket $rig/usb
su kaoyomi -s /bin/sh -c "RUST_LOG=info RUNTIME_DIRECTORY=$rig/socket exec kaoyomi-reader-sim run --board /etc/kaoyomi/rig-socket.toml --state $rig/socket --script /etc/kaoyomi/pin.script" > /tmp/reader.log 2>&1 &
socketreader=$!
wait_for $rig/socket/reader.sock
check rig-reader-socket $?
kterm --socket $rig/socket/reader.sock pair --code-from $rig/socket/pairing-code > /tmp/term-pair-socket.log 2>&1
check rig-reader-paired-over-the-socket $?
start=$(uptime_cs)
kterm --socket $rig/socket/reader.sock session --trust-anchor /tmp/ca.der --json > /tmp/result.json 2> /tmp/term.log
check pin-session-verified $?
end=$(uptime_cs)
echo "KAOYOMI-MEASURE pin-session $(( (end - start) / 100 )).$(( (end - start) % 100 )) s (guest clock, TCG)"
grep -q '"card_signature": "valid"' /tmp/result.json
check card-signature-valid $?
grep -q '"reader_signature": "valid"' /tmp/result.json
check reader-signature-valid $?
grep -q '"trusted"' /tmp/result.json
check certificate-chain-trusted $?
wait $socketreader
check reader-script-completed $?

# The same session with the terminal on USB: the reader's gadget on dummy_hcd, kterm on
# the guest's own host side through usbfs (nusb). Root registers the gadget and mounts FunctionFS
# for the reader's user; the reader, unprivileged, writes the descriptors; root then binds it.
kaoyomi-reader usb-gadget setup --state $rig/usb --functionfs /run/kaoyomi-usb --uid 900 --gid 900 > /tmp/usb-setup.log 2>&1
check usb-gadget-registered-by-root $?
start_usb_reader() {
    su kaoyomi -s /bin/sh -c "RUST_LOG=info RUNTIME_DIRECTORY=$rig/usb exec kaoyomi-reader-sim run --board /etc/kaoyomi/rig-usb.toml --state $rig/usb --script $1" > "$2" 2>&1 &
    usbreader=$!
    kaoyomi-reader usb-gadget bind --timeout-s 60 >> /tmp/usb-setup.log 2>&1
}
start_usb_reader /etc/kaoyomi/pin.script /tmp/reader-usb.log
check usb-gadget-bound-once-the-reader-is-up $?
grep -q "^Uid:[[:space:]]*900[[:space:]]" /proc/$usbreader/status
check usb-reader-runs-as-its-own-user $?
i=0
while ! kterm readers 2>/dev/null | grep -q "^KY-" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kterm readers 2>/dev/null | grep -q "^KY-"
check usb-reader-enumerated $?
kterm readers 2>/dev/null | sed 's/^/KAOYOMI-MEASURE usb reader /'
kterm --usb --connect-timeout 20 pair --code-from $rig/usb/pairing-code > /tmp/term-pair-usb.log 2>&1
check rig-reader-paired-over-usb $?
start=$(uptime_cs)
kterm --usb --connect-timeout 20 session --trust-anchor /tmp/ca.der --json > /tmp/result-usb.json 2> /tmp/term-usb.log
check pin-session-over-usb $?
end=$(uptime_cs)
echo "KAOYOMI-MEASURE pin-session-usb $(( (end - start) / 100 )).$(( (end - start) % 100 )) s (guest clock, TCG)"
grep -q '"card_signature": "valid"' /tmp/result-usb.json
check card-signature-valid-over-usb $?
wait $usbreader
check usb-reader-script-completed $?

# The cable pulled mid-session and plugged back: the reader cancels the session and returns to
# idle; the terminal (one kterm with --reconnect) sees the link go, finds the same reader
# again when the cable is back, and completes a new session.
udc_files() { ls /sys/kernel/config/usb_gadget/*/UDC 2>/dev/null; }
start_usb_reader /etc/kaoyomi/unplug.script /tmp/reader-unplug.log
unplugreader=$usbreader
kterm --usb --reconnect --connect-timeout 60 session --trust-anchor /tmp/ca.der --json > /tmp/result-unplug.json 2> /tmp/term-unplug.log &
term1=$!
i=0
while ! grep -q "^\[choose-method\]" /tmp/reader-unplug.log && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
# A second terminal program racing for the same reader is turned away; the first is undisturbed.
kterm --usb --connect-timeout 1 info > /dev/null 2> /tmp/term-second.log
[ $? != 0 ] && grep -q "in use by another terminal program" /tmp/term-second.log
check second-terminal-refused-over-usb $?
for u in $(udc_files); do echo "" > "$u"; done
i=0
while ! grep -q "went down" /tmp/term-unplug.log && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "went down" /tmp/term-unplug.log
check terminal-sees-the-cable-pulled $?
i=0
while ! grep -q "TerminalLost" /tmp/reader-unplug.log && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
grep -q "TerminalLost" /tmp/reader-unplug.log
check reader-ends-the-session-on-unplug $?
i=0
while ! grep -q "^\[place-card\]" /tmp/reader-unplug.log && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
for u in $(udc_files); do echo "dummy_udc.0" > "$u"; done
wait $term1
check terminal-reconnects-and-completes-a-new-session $?
grep -q "is back: starting again" /tmp/term-unplug.log
check terminal-found-the-same-reader-again $?
grep -q '"card_signature": "valid"' /tmp/result-unplug.json
check card-signature-valid-after-replug $?
wait $unplugreader
check unplug-reader-script-completed $?

journalctl -u kaoyomi-cardsim -o cat --no-pager > /tmp/cardsim.log
for f in /tmp/reader-device.log /tmp/term-info.log /tmp/term-touch.log /tmp/term-device.log /tmp/term-second.log /tmp/leds.log /tmp/touch.log /tmp/camera.log /tmp/camera-loop.log /tmp/speaker.log /tmp/usb-setup.log /tmp/reader.log /tmp/term.log /tmp/cardsim.log /tmp/reader-usb.log /tmp/term-usb.log /tmp/reader-unplug.log /tmp/term-unplug.log; do
    echo "--- $f"; cat "$f"
done
echo "KAOYOMI-DONE"
# The host cuts the power (kills QEMU) once it reads KAOYOMI-DONE; otherwise
# kaoyomi-test.service powers the guest off when this script ends.

# The QEMU image's checks after the power cut (sourced by test.sh when the kernel's command line
# says kaoyomi.after=power-cut): the first boot ended with QEMU killed, neither unmounted nor
# synced. The state partition mounts again, the reader starts on it, and what the first boot's
# staff changed with the keyboard and mouse is still there: the new password (the initial one is
# refused), the keyboard layout, and the log records of both, read by a terminal over USB. Then
# the state partition turns read-only under the running reader, which goes on serving patients.

grep -q "^/dev/vdb /var/lib/kaoyomi ext4 rw," /proc/mounts
check state-partition-mounts-after-the-power-cut $?
i=0
while ! kterm readers 2>/dev/null | grep -q "^KY-" && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kterm readers 2>/dev/null | grep -q "^KY-"
check reader-serves-usb-after-the-power-cut $?
# The first boot's terminal kept its key in memory: a new terminal program pairs with the code
# the reader shows (the reader still knows the first).
kterm --usb --connect-timeout 20 pair --code-from /run/kaoyomi-reader/pairing-code > /tmp/term-pair.log 2>&1
check new-terminal-paired-after-the-power-cut $?
kterm --usb --connect-timeout 20 settings-export /tmp/settings.json > /tmp/term-settings.log 2>&1 &&
    grep -Eq '"keyboard-layout": *"us"' /tmp/settings.json
check keyboard-layout-saved-by-mouse-survives-the-power-cut $?
kterm --usb --connect-timeout 20 logs --out /tmp/operations.csv 2> /tmp/term-logs.log
grep -q "password-changed:engineer" /tmp/operations.csv && grep -q "settings-changed:menu:engineer" /tmp/operations.csv
check maintenance-log-records-survive-the-power-cut $?
kaoyomi-reader initial-passwords --state /var/lib/kaoyomi | sed -n 's/^engineer *//p' > /tmp/initial-password
kterm --usb --connect-timeout 20 settings-import /tmp/settings.json --password-file /tmp/initial-password > /tmp/term-import.log 2>&1
[ $? != 0 ] && grep -q "refused" /tmp/term-import.log
check initial-password-stays-refused-after-the-power-cut $?
echo "Kaoyomi-Test@2026" > /tmp/new-password
kterm --usb --connect-timeout 20 settings-import /tmp/settings.json --password-file /tmp/new-password >> /tmp/term-import.log 2>&1
check password-typed-on-the-jis-keyboard-survives-the-power-cut $?

# Then the state partition fails: an ext4 error (as a worn-out card gives), on which the kernel
# remounts it read-only (errors=remount-ro). The reader keeps serving patients: a PIN session on
# the touch panel completes over USB. It says in its journal that the log is not recording.
# (This kernel marks the mount `emergency_ro` rather than `ro`; either way nothing is written.)
echo 1 > /sys/fs/ext4/vdb/trigger_fs_error
read_only() { ! touch /var/lib/kaoyomi/write-probe 2> /dev/null; }
i=0
while ! read_only && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
rm -f /var/lib/kaoyomi/write-probe
read_only && grep "^/dev/vdb /var/lib/kaoyomi " /proc/mounts | grep -Eq " ro,|emergency_ro"
check state-partition-read-only-after-an-error $?
grep "^/dev/vdb " /proc/mounts | sed 's/^/KAOYOMI-MEASURE mount after the error: /'
kaoyomi-cardsim export-ca --out /tmp/ca.der > /dev/null 2>&1
mark_log
# No consents asked (the first boot tapped them): the PIN alone, which keeps the guest's time short.
kaoyomi-term --store /tmp/terminal --usb --connect-timeout 20 session --consents none --trust-anchor /tmp/ca.der --json > /tmp/result-read-only.json 2> /tmp/term-read-only.log &
term=$!
await_log SessionArmed
kaoyomi-cardsim --state /run/kaoyomi-rig insert normal > /dev/null
await_screen choose-method &&
    ask_host KAOYOMI-TAP choose-method-pin-only ja PIN "(4 digits)" && await_screen pin-entry &&
    ask_host KAOYOMI-PIN pin-entry ja 4721 && await_screen finished
check patient-served-on-a-read-only-state-partition $?
wait $term && grep -q '"outcome": "Verified"' /tmp/result-read-only.json
check read-only-session-result-reaches-the-terminal $?
kaoyomi-cardsim --state /run/kaoyomi-rig remove > /dev/null
await_log "operation log is not recording"
check reader-says-its-log-is-not-recording $?
[ "$(systemctl show -p NRestarts --value kaoyomi-reader.service)" = 0 ]
check reader-never-restarted-on-the-read-only-partition $?

for f in /tmp/term-read-only.log /tmp/term-pair.log /tmp/term-settings.log /tmp/term-logs.log /tmp/term-import.log; do
    echo "--- $f"; cat "$f"
done
journalctl -u kaoyomi-reader -o cat --no-pager | tail -n 30

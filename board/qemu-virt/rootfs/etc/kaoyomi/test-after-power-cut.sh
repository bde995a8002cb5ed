# The QEMU image's checks after the power cut (sourced by test.sh when the kernel's command line
# says kaoyomi.after=power-cut): the first boot ended with QEMU killed, neither unmounted nor
# synced. The state partition mounts again, the reader starts on it, and what the first boot's
# staff changed with the keyboard and mouse is still there: the new password (the initial one is
# refused), the keyboard layout, and the log records of both, read by a terminal over USB.

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
for f in /tmp/term-pair.log /tmp/term-settings.log /tmp/term-logs.log /tmp/term-import.log; do
    echo "--- $f"; cat "$f"
done
journalctl -u kaoyomi-reader -o cat --no-pager | tail -n 30

<#
.SYNOPSIS
    Boots build/tlbstorm.iso in a throw-away Hyper-V VM and captures its COM1 records to a file.

.DESCRIPTION
    Creates a Generation 1 or 2 VM with no network adapter, attaches the ISO as a DVD or the VHDX
    (through a differencing disk) as its first disk (first boot device; Secure Boot off on Gen2,
    since the GRUB build is not signed), connects COM1
    to the named pipe \\.\pipe\<VMName>-com1, starts the VM and copies every byte from the pipe to
    -OutFile while echoing readable lines to the console. It stops at the kernel's line
    "tlbstorm: verdict <name>[, detection not shown] (exit <N>)", at -TimeoutSec, or when the VM turns Off; then turns the
    VM off if it still runs and removes it (unless -KeepVM). The kernel runs the ISO's default GRUB
    preset (the first line of boot/presets): no other preset can be chosen reliably over the pipe.
    See docs/hyperv.md. UNTESTED on a real Hyper-V host (checked by reading and parsing only).

    Exit status: the kernel's verdict code (0 pass, 1 fail, 2 usage, 3 skip, 4 error); 5 timeout;
    6 the VM stopped (or reset) without a verdict; 7 a host problem (no Hyper-V module, not
    elevated, missing ISO, bad option, VM name in use, pipe not connectable, a Hyper-V error).
    Works in Windows PowerShell 5.1 and PowerShell 7 (Windows, Hyper-V module).

.PARAMETER IsoPath
    The tlbstorm ISO (build/tlbstorm.iso copied to this host). This or -VhdxPath is required.
.PARAMETER VhdxPath
    Boot build/images/tlbstorm.vhdx as the VM's first disk instead of the ISO. The VM gets a
    differencing disk on top of it (removed with the VM), so the image itself is never written.
.PARAMETER Generation
    1 (BIOS, DVD on IDE, CD first in the boot order) or 2 (UEFI, Secure Boot off, DVD first). Default 2.
.PARAMETER VCpus
    Virtual processors (Set-VMProcessor -Count): 1..64 for Generation 1, 1..240 for Generation 2.
    One thread per core (-HwThreadCountPerCore 1, where Hyper-V has it), so the VP indices are not
    split into SMT siblings. Default 2.
.PARAMETER MemoryMB
    Static memory in MiB (dynamic memory off; an even number, at least 64). Default 512.
.PARAMETER VMName
    Name of the VM to create. Default tlbstorm-<Generation>-<VCpus>, e.g. tlbstorm-2-4.
.PARAMETER OutFile
    Where the raw serial bytes go. Default <VMName>-<yyyyMMdd-HHmmss>.serial.log in the current directory.
.PARAMETER TimeoutSec
    Give up (exit 5) after this many seconds from the start of the VM. Default 600.
.PARAMETER KeepVM
    Leave the VM (turned off) in place instead of removing it.
.PARAMETER Force
    Replace an existing VM of the same name, but only one that this script created (its Notes say so).
.PARAMETER ResultsDir
    Only used in the import command printed at the end. Default results.

.EXAMPLE
    .\Invoke-TlbstormHyperV.ps1 -IsoPath C:\tlbstorm\tlbstorm.iso -Generation 2 -VCpus 4 -MemoryMB 1024
.EXAMPLE
    .\Invoke-TlbstormHyperV.ps1 -IsoPath C:\tlbstorm\tlbstorm.iso -Generation 1 -VCpus 2 -OutFile gen1.serial.log -KeepVM
.EXAMPLE
    .\Invoke-TlbstormHyperV.ps1 -VhdxPath C:\tlbstorm\tlbstorm.vhdx -Generation 2 -VCpus 8
#>
[CmdletBinding()]
param(
    [string]$IsoPath,
    [string]$VhdxPath,
    [int]$Generation = 2,
    [int]$VCpus = 2,
    [int]$MemoryMB = 512,
    [string]$VMName,
    [string]$OutFile,
    [int]$TimeoutSec = 600,
    [switch]$KeepVM,
    [switch]$Force,
    [string]$ResultsDir = 'results'
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'
$Marker = 'Created by Invoke-TlbstormHyperV.ps1 (tlbstorm serial capture)'
# Terminal escape sequences (GRUB's menu) and C0 controls but tab: scripts/tlbrun/serial.py's clean_line().
$Escapes = '\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]|[\x00-\x08\x0b-\x1f\x7f]'

# Every error is one line on stderr, then the exit status.
function Stop-WithError([int]$Code, [string]$Message) {
    [Console]::Error.WriteLine('tlbstorm-hyperv: ' + ($Message -replace '\s+', ' ').Trim())
    exit $Code
}
function Get-OurVM { Hyper-V\Get-VM -Name $VMName -ErrorAction SilentlyContinue }
function Get-VMStateText { $vm = Get-OurVM; if ($vm) { [string]$vm.State } else { 'Off' } }

# --- Host and option checks (status 7) -------------------------------------------------------------
if ($Generation -ne 1 -and $Generation -ne 2) { Stop-WithError 7 "-Generation must be 1 or 2, not $Generation" }
$MaxVCpus = if ($Generation -eq 1) { 64 } else { 240 }   # Hyper-V's limits per generation
if ($VCpus -lt 1 -or $VCpus -gt $MaxVCpus) { Stop-WithError 7 "-VCpus must be 1..$MaxVCpus for Generation $Generation, not $VCpus" }
if ($MemoryMB -lt 64 -or $MemoryMB % 2) { Stop-WithError 7 "-MemoryMB must be an even number >= 64, not $MemoryMB" }
if ($TimeoutSec -lt 10) { Stop-WithError 7 "-TimeoutSec must be at least 10, not $TimeoutSec" }
if ([bool]$IsoPath -eq [bool]$VhdxPath) { Stop-WithError 7 'give one of -IsoPath (tlbstorm.iso) or -VhdxPath (tlbstorm.vhdx)' }
$Image = if ($IsoPath) { $IsoPath } else { $VhdxPath }
if (-not (Test-Path -LiteralPath $Image -PathType Leaf)) { Stop-WithError 7 "image not found: $Image" }
$Image = (Resolve-Path -LiteralPath $Image).ProviderPath
if (-not $VMName) { $VMName = "tlbstorm-$Generation-$VCpus" }
if ($VMName -notmatch '^[A-Za-z0-9._-]{1,80}$') { Stop-WithError 7 "-VMName may only use letters, digits, '.', '_' and '-': $VMName" }
if (-not $OutFile) { $OutFile = "$VMName-$(Get-Date -Format 'yyyyMMdd-HHmmss').serial.log" }
$OutFile = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutFile)

if (-not (Get-Module -ListAvailable -Name Hyper-V)) {
    Stop-WithError 7 'the Hyper-V PowerShell module is missing (enable Hyper-V and its management tools)'
}
try { Import-Module Hyper-V -ErrorAction Stop } catch { Stop-WithError 7 "cannot load the Hyper-V module: $($_.Exception.Message)" }
$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    Stop-WithError 7 'not elevated: run this from a PowerShell started with "Run as administrator"'
}

$existing = Get-OurVM
if ($existing) {
    if (-not $Force) { Stop-WithError 7 "a VM named $VMName already exists (use -Force to replace it, or -VMName)" }
    if ([string]$existing.Notes -ne $Marker) { Stop-WithError 7 "VM $VMName exists and was not created by this script; not replacing it" }
    try {
        if ($existing.State -ne 'Off') { Hyper-V\Stop-VM -Name $VMName -TurnOff -Force }
        Hyper-V\Remove-VM -Name $VMName -Force
    } catch { Stop-WithError 7 "cannot remove the old VM $VMName`: $($_.Exception.Message)" }
}

# --- Create and start the VM -----------------------------------------------------------------------
$PipeName = "$VMName-com1"
$MemoryBytes = [int64]$MemoryMB * 1048576   # MiB to bytes, as Int64
try { $file = [IO.File]::Open($OutFile, [IO.FileMode]::Create, [IO.FileAccess]::Write, [IO.FileShare]::Read) }
catch { Stop-WithError 7 "cannot create $OutFile`: $($_.Exception.Message)" }
$created = $false
$Overlay = $null
$startJob = $null
$code = 7
$pipe = $null
$reason = $null
$lastError = 'no answer'
try {
    try {
        $null = Hyper-V\New-VM -Name $VMName -Generation $Generation -MemoryStartupBytes $MemoryBytes -NoVHD
        $created = $true
        Hyper-V\Set-VM -Name $VMName -Notes $Marker
        if ((Get-Command Hyper-V\Set-VM).Parameters.ContainsKey('AutomaticCheckpointsEnabled')) {
            Hyper-V\Set-VM -Name $VMName -AutomaticCheckpointsEnabled $false
        }
        Set-VMMemory -VMName $VMName -DynamicMemoryEnabled $false -StartupBytes $MemoryBytes
        Set-VMProcessor -VMName $VMName -Count $VCpus
        if ((Get-Command Set-VMProcessor).Parameters.ContainsKey('HwThreadCountPerCore')) {
            Set-VMProcessor -VMName $VMName -HwThreadCountPerCore 1
        }
        Get-VMNetworkAdapter -VMName $VMName | Remove-VMNetworkAdapter
        if ($VhdxPath) {
            # A differencing disk next to the log: the VM's writes never reach the image.
            $Overlay = [IO.Path]::ChangeExtension($OutFile, '.overlay.vhdx')
            $null = New-VHD -Path $Overlay -ParentPath $Image -Differencing
            if ($Generation -eq 2) {
                $disk = Add-VMHardDiskDrive -VMName $VMName -Path $Overlay -Passthru
                Set-VMFirmware -VMName $VMName -EnableSecureBoot Off -FirstBootDevice $disk
            } else {
                Add-VMHardDiskDrive -VMName $VMName -ControllerType IDE -ControllerNumber 0 -ControllerLocation 0 -Path $Overlay
                Set-VMBios -VMName $VMName -StartupOrder @('IDE', 'CD', 'LegacyNetworkAdapter', 'Floppy')
            }
        } elseif ($Generation -eq 2) {
            $dvd = Add-VMDvdDrive -VMName $VMName -Path $Image -Passthru
            Set-VMFirmware -VMName $VMName -EnableSecureBoot Off -FirstBootDevice $dvd
        } else {
            $dvd = Get-VMDvdDrive -VMName $VMName | Select-Object -First 1   # New-VM adds one on IDE 1:0
            if ($dvd) { Set-VMDvdDrive -VMName $VMName -ControllerNumber $dvd.ControllerNumber -ControllerLocation $dvd.ControllerLocation -Path $Image }
            else { Add-VMDvdDrive -VMName $VMName -ControllerNumber 1 -ControllerLocation 0 -Path $Image }
            Set-VMBios -VMName $VMName -StartupOrder @('CD', 'IDE', 'LegacyNetworkAdapter', 'Floppy')
        }
        Set-VMComPort -VMName $VMName -Number 1 -Path "\\.\pipe\$PipeName"
        Write-Host "tlbstorm-hyperv: VM $VMName (Gen$Generation, $VCpus vCPUs, $MemoryMB MiB), COM1 -> \\.\pipe\$PipeName -> $OutFile"
        # Started as a job: the pipe appears as the VM powers on, and the loop below connects to it
        # at once instead of after Start-VM returns, so the firmware's first lines are not lost.
        $startJob = Hyper-V\Start-VM -Name $VMName -AsJob
    } catch { Stop-WithError 7 "cannot set up VM $VMName`: $($_.Exception.Message)" }
    $started = [DateTime]::UtcNow
    $deadline = $started.AddSeconds($TimeoutSec)

    # --- Connect to COM1 (the pipe exists once the VM runs; retry for ~30 s) -----------------------
    $connectBy = [DateTime]::UtcNow.AddSeconds(30)
    while ($true) {
        $pipe = New-Object IO.Pipes.NamedPipeClientStream('.', $PipeName, [IO.Pipes.PipeDirection]::InOut, [IO.Pipes.PipeOptions]::Asynchronous)
        try { $pipe.Connect(50); break } catch { $lastError = $_.Exception.Message; $pipe.Dispose(); $pipe = $null }
        if ($startJob.State -eq 'Failed') { $code = 7; throw "Start-VM failed: $($startJob.ChildJobs[0].JobStateInfo.Reason.Message)" }
        if ($startJob.State -eq 'Completed' -and (Get-VMStateText) -eq 'Off') { $code = 6; throw 'the VM turned off before COM1 could be opened' }
        if ([DateTime]::UtcNow -gt $connectBy) { $code = 7; throw "cannot connect to \\.\pipe\$PipeName within 30 s: $lastError" }
    }

    # --- Copy bytes, echo lines, watch for the verdict, the deadline and the VM state ------------
    $latin1 = [Text.Encoding]::GetEncoding(28591)   # one char per byte: no decoder state across reads
    $buf = New-Object byte[] 4096
    $partial = ''
    $verdict = $null; $boots = 0
    $nextStateCheck = [DateTime]::UtcNow
    $task = $pipe.ReadAsync($buf, 0, $buf.Length)
    while (-not $reason) {
        try { $done = $task.Wait(500) } catch { $done = $true }   # Wait throws when the read failed
        if (-not $done) {
            if ([DateTime]::UtcNow -gt $deadline) { $reason = 'timeout'; break }
            if ([DateTime]::UtcNow -ge $nextStateCheck) {
                if ((Get-VMStateText) -eq 'Off') { $reason = 'off'; break }
                $nextStateCheck = [DateTime]::UtcNow.AddSeconds(2)
            }
            continue
        }
        $n = 0
        if ($task.Status -eq 'RanToCompletion') { $n = $task.Result }
        if ($n -le 0) { $reason = 'off'; break }   # EOF or broken pipe: the VM stopped or reset
        $file.Write($buf, 0, $n); $file.Flush()
        $lines = ($partial + $latin1.GetString($buf, 0, $n)).Split([char]10)
        $partial = $lines[-1]
        for ($i = 0; $i -lt $lines.Count - 1; $i++) {
            $raw = $lines[$i]
            $text = ($raw -replace $Escapes, '').Trim()
            Write-Host $text
            if ($text -match '^TLBSTORM \{"record":"boot"') {
                $boots++
                if ($boots -gt 1) { $reason = 'reset'; break }   # the VM reset and booted again
            }
            if ($text -match '^tlbstorm: verdict (\w+)(, detection not shown)? \(exit (\d+)\)') {
                $verdict = $Matches[1]; $code = [int]$Matches[3]; $reason = 'verdict'; break
            }
        }
        if (-not $reason) {
            if ([DateTime]::UtcNow -gt $deadline) { $reason = 'timeout'; break }
            $task = $pipe.ReadAsync($buf, 0, $buf.Length)
        }
    }
    $elapsed = [int]([DateTime]::UtcNow - $started).TotalSeconds
    switch ($reason) {
        'verdict' { Write-Host "tlbstorm-hyperv: verdict $verdict (exit $code) after $elapsed s" }
        'timeout' { $code = 5; [Console]::Error.WriteLine("tlbstorm-hyperv: no verdict within $TimeoutSec s (timeout)") }
        'reset'   { $code = 6; [Console]::Error.WriteLine('tlbstorm-hyperv: the VM rebooted without a verdict (triple fault or reset)') }
        default   { $code = 6; [Console]::Error.WriteLine("tlbstorm-hyperv: the VM stopped (COM1 closed or VM off) without a verdict after $elapsed s") }
    }
} catch {
    if ($code -notin 5, 6) { $code = 7 }
    [Console]::Error.WriteLine('tlbstorm-hyperv: ' + ([string]$_.Exception.Message -replace '\s+', ' ').Trim())
} finally {
    # --- Tear down: give the kernel's ACPI power-off a moment, then turn off and remove -----------
    if ($pipe) { $pipe.Dispose() }
    if ($file) { $file.Dispose() }
    if ($created -and (Get-OurVM)) {
        $offBy = [DateTime]::UtcNow.AddSeconds($(if ($reason -eq 'verdict') { 10 } else { 0 }))
        while ((Get-VMStateText) -ne 'Off' -and [DateTime]::UtcNow -lt $offBy) { Start-Sleep -Milliseconds 500 }
        try {
            if ((Get-VMStateText) -ne 'Off') { Hyper-V\Stop-VM -Name $VMName -TurnOff -Force }
            if ($KeepVM) { Write-Host "tlbstorm-hyperv: kept VM $VMName (off)" }
            else {
                Hyper-V\Remove-VM -Name $VMName -Force
                if ($Overlay -and (Test-Path -LiteralPath $Overlay)) { Remove-Item -LiteralPath $Overlay -Force }
            }
        } catch {
            [Console]::Error.WriteLine("tlbstorm-hyperv: could not stop or remove VM $VMName`: " + ($_.Exception.Message -replace '\s+', ' '))
        }
    }
}

if ($file -and (Test-Path -LiteralPath $OutFile)) {
    Write-Host "tlbstorm-hyperv: serial log $OutFile"
    Write-Host 'Import it into a results directory (on the machine with the tlbstorm checkout):'
    Write-Host "  scripts/bench import-hyperv $(Split-Path -Leaf $OutFile) --generation $Generation --vcpus $VCpus --memory $MemoryMB --out $ResultsDir"
}
exit $code

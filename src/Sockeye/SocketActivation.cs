using System.Globalization;
using Sockeye.Transport;

namespace Sockeye;

/// <summary>
/// systemd's socket activation protocol (<c>sd_listen_fds(3)</c>), for servers whose listening sockets
/// systemd opens and keeps: the sockets live in a <c>.socket</c> unit, so a restart of the service
/// loses no connection (they wait in the socket's queue), and a privileged port needs no privilege.
/// </summary>
/// <remarks>
/// The protocol: <c>LISTEN_PID</c> is the process the sockets are meant for (a child that inherited the
/// environment must not take them), <c>LISTEN_FDS</c> how many there are, starting at descriptor 3
/// (<see cref="FirstDescriptor"/>), and <c>LISTEN_FDNAMES</c> their names, separated by colons. Hand a
/// descriptor to <see cref="TcpServerOptions.ListenFd"/>.
/// </remarks>
public static class SocketActivation
{
    /// <summary>The first descriptor systemd passes (after stdin, stdout and stderr).</summary>
    public const int FirstDescriptor = 3;

    // Far more than any unit passes; a larger count is a corrupt variable, not a request.
    private const int MaxDescriptors = 4096;

    /// <summary>Whether systemd passed sockets to this process: <c>LISTEN_PID</c> names it.</summary>
    public static bool IsActivated => int.TryParse(Environment.GetEnvironmentVariable("LISTEN_PID"), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
        && pid == Environment.ProcessId;

    /// <summary>
    /// Takes the sockets systemd passed to this process: none when <c>LISTEN_PID</c> is unset or names
    /// another process. Like <c>sd_listen_fds(1)</c>, marks each descriptor close-on-exec and removes the
    /// three variables from the environment, so processes this one starts neither inherit the sockets
    /// nor mistake the variables for their own.
    /// </summary>
    /// <param name="unsetEnvironment">Whether to remove the variables (as <c>sd_listen_fds(1)</c>); pass
    /// <see langword="false"/> to read them again later.</param>
    /// <exception cref="InvalidOperationException">A variable is malformed (the message names it and its value).</exception>
    public static IReadOnlyList<ActivatedSocket> TakeListeners(bool unsetEnvironment = true)
    {
        var sockets = Parse(Environment.GetEnvironmentVariable("LISTEN_PID"), Environment.GetEnvironmentVariable("LISTEN_FDS"),
            Environment.GetEnvironmentVariable("LISTEN_FDNAMES"), Environment.ProcessId);
        if (unsetEnvironment)
        {
            // .NET's copy of the environment, which is what Process.Start passes on.
            Environment.SetEnvironmentVariable("LISTEN_PID", null);
            Environment.SetEnvironmentVariable("LISTEN_FDS", null);
            Environment.SetEnvironmentVariable("LISTEN_FDNAMES", null);
        }

        if (OperatingSystem.IsLinux())
        {
            foreach (var socket in sockets)
            {
                DescriptorNative.SetCloseOnExec(socket.Fd, close: true);
            }
        }

        return sockets;
    }

    /// <summary>The protocol's rules over the three variables' values, for <paramref name="ourPid"/>.</summary>
    internal static IReadOnlyList<ActivatedSocket> Parse(string? listenPid, string? listenFds, string? listenFdNames, int ourPid)
    {
        if (string.IsNullOrEmpty(listenPid))
        {
            return [];
        }

        if (!int.TryParse(listenPid, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
        {
            throw new InvalidOperationException($"LISTEN_PID must be a process id, got '{listenPid}'");
        }

        if (pid != ourPid)
        {
            return []; // meant for another process (we inherited the environment): not ours to take
        }

        if (!int.TryParse(listenFds, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count > MaxDescriptors)
        {
            throw new InvalidOperationException($"LISTEN_FDS must be a number of descriptors from 0 to {MaxDescriptors}, got '{listenFds}' (LISTEN_PID {listenPid} is this process)");
        }

        var names = string.IsNullOrEmpty(listenFdNames) ? null : listenFdNames.Split(':');
        if (names is not null && names.Length != count)
        {
            throw new InvalidOperationException($"LISTEN_FDNAMES names {names.Length} sockets ('{listenFdNames}') but LISTEN_FDS is {count}");
        }

        var sockets = new ActivatedSocket[count];
        for (var i = 0; i < count; i++)
        {
            sockets[i] = new ActivatedSocket(FirstDescriptor + i, names?[i] is { Length: > 0 } name ? name : "unknown");
        }

        return sockets;
    }
}

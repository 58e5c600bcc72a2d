using System.Net;
using System.Net.Sockets;
using Sockeye.Transport;

namespace Sockeye.Udp;

public sealed partial class UdpServer
{
    private const int SolSocket = 1;
    private const int SoReusePort = 15;

    // How many times a port chosen for port 0 is tried before giving up (another process may take it
    // between the probe and the bind).
    private const int PortChoiceAttempts = 10;

    /// <summary>Binds <see cref="UdpServerOptions.ReceiveSockets"/> sockets to one address and port.</summary>
    private static Socket[] Bind(UdpServerOptions options)
    {
        // SO_REUSEPORT spreads datagrams over the sockets only on Linux; elsewhere it means something else
        // (on macOS the last socket bound gets everything), so use one socket there.
        var count = OperatingSystem.IsLinux() ? options.ReceiveSockets : 1;
        var endPoint = options.EndPoint;
        for (var attempt = 1; ; attempt++)
        {
            var port = endPoint.Port;
            if (port == 0 && count > 1)
            {
                // Not a bind to port 0 with SO_REUSEPORT set: Linux's port search then treats ports held by
                // other SO_REUSEPORT sockets of the same user as free, and two servers (two tests running in
                // parallel) could end up sharing one port. An exclusive probe finds a truly free port.
                port = ProbeFreePort(endPoint.Address);
            }

            var sockets = new List<Socket>(count);
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var socket = CreateSocket(options, endPoint.Address, reusePort: count > 1);
                    sockets.Add(socket);
                    socket.Bind(new IPEndPoint(endPoint.Address, port));
                    port = ((IPEndPoint)socket.LocalEndPoint!).Port;
                }

                return [.. sockets];
            }
            catch (SocketException ex)
            {
                foreach (var socket in sockets)
                {
                    socket.Dispose();
                }

                if (ex.SocketErrorCode == SocketError.AddressAlreadyInUse && endPoint.Port == 0 && attempt < PortChoiceAttempts)
                {
                    continue; // The probed port was taken in the meantime: probe again.
                }

                throw new IOException($"cannot receive UDP on {endPoint}: {SocketErrors.DescribeBindFailure(ex)}", ex);
            }
        }
    }

    private static Socket CreateSocket(UdpServerOptions options, IPAddress address, bool reusePort)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            if (reusePort)
            {
                // SO_REUSEPORT alone: Socket.ReuseAddress would also set SO_REUSEADDR (NOTES.md).
                socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
            }

            if (options.ReceiveBufferSize is { } receive)
            {
                socket.ReceiveBufferSize = receive;
            }

            if (options.SendBufferSize is { } send)
            {
                socket.SendBufferSize = send;
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static int ProbeFreePort(IPAddress address)
    {
        using var probe = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(new IPEndPoint(address, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}

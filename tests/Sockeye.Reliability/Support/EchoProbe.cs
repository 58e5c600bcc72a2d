using System.Net;
using System.Net.Sockets;
using Sockeye.Tests.Support;

namespace Sockeye.Reliability.Support;

/// <summary>The small client steps the descriptor scenarios share: a connect that may be refused, and
/// a one-byte echo that may fail, each answering yes or no instead of throwing.</summary>
internal static class EchoProbe
{
    /// <summary>Connects to <paramref name="endPoint"/>, or returns null when the connect is refused or reset.</summary>
    public static async Task<Socket?> ConnectOrNullAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint).WaitAsync(Loopback.Patience);
            return socket;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    /// <summary>Sends one byte and says whether the same byte came back within <paramref name="within"/> (10 s by default).</summary>
    public static async Task<bool> TryRoundTripAsync(Socket socket, TimeSpan? within = null)
    {
        try
        {
            await socket.SendAllAsync("x"u8.ToArray());
            return (await socket.ReceiveExactlyAsync(1, within ?? TimeSpan.FromSeconds(10)))[0] == (byte)'x';
        }
        catch (Exception ex) when (ex is SocketException or EndOfStreamException or TimeoutException or OperationCanceledException)
        {
            return false;
        }
    }
}

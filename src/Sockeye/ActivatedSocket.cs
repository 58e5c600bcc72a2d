namespace Sockeye;

/// <summary>One listening socket passed by systemd socket activation (see <see cref="SocketActivation"/>).</summary>
/// <param name="Fd">The descriptor number, for <see cref="TcpServerOptions.ListenFd"/> (3, 4, ...).</param>
/// <param name="Name">Its name from <c>LISTEN_FDNAMES</c> (a unit's <c>FileDescriptorName=</c>), or
/// <c>unknown</c> when systemd passed none, as <c>sd_listen_fds_with_names</c> reports it.</param>
public readonly record struct ActivatedSocket(int Fd, string Name);
